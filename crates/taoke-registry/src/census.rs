//! census (todo)
