//! registry (todo)
