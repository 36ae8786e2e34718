//! Integration tests of taoke-tokenizer: synthetic files for every reader and relation, hostile
//! inputs, and the real tokenizers of the test-model set (skipped when not fetched).

mod hostile;
mod real_gguf;
mod real_hf;
mod relations;
mod synthetic;
