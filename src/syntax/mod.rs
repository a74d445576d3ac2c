//! Mapping source text → AST. The only module that sees pest.

pub mod ast;
mod error;
mod expr;
mod parser;

pub use parser::parse;
