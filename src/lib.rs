//! hvxform: convert virtual-machine metadata between hypervisor platforms with
//! declarative, checked mappings.
//!
//! Stages run one way: [`syntax`] (mapping text → AST) → [`compile`]
//! (AST → [`program::Program`], every diagnostic collected) → [`exec`]
//! (run a program over an input document, write output documents).

pub mod carry;
pub mod cli;
pub mod command;
pub mod compile;
pub mod convert;
pub mod coverage;
pub mod diag;
pub mod engine;
pub mod exec;
pub mod fmt;
#[doc(hidden)]
pub mod fuzz;
pub mod jsonout;
pub mod platform;
pub mod program;
pub mod render;
pub mod serve;
pub mod session;
pub mod suite;
pub mod syntax;
pub mod tree;
pub mod xmlout;

#[cfg(test)]
pub(crate) mod testing;
