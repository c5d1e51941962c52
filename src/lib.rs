//! Hearth: the office's own AI box, as one crate.
//!
//! Reading order: [`cli`] parses commands and starts [`app`], which wires the
//! [`config`], the engines and the capabilities into one router assembled in
//! [`web`]. Capabilities ([`auth`], [`chat`], [`docs`], [`admin`], [`pages`])
//! own their routes, pages and domain logic and meet only through engines:
//! [`store`] (the only place that talks SQL), [`llm`] (the only place that
//! talks to llama.cpp), [`search`] (the only place that talks to tantivy),
//! [`extract`] (text from office files, in a child process), [`egress`]
//! (the only way out of the box, every request logged first), [`disk`],
//! [`text`] and [`memory`]. [`error`] turns every failure into a friendly
//! page or a JSON error with a stable code; [`audit`] is the append-only
//! record of who did what. ARCHITECTURE.md has the rules, and
//! `tests/tidy.rs` checks them.

#![deny(clippy::await_holding_lock)]

pub mod admin;
pub mod api;
pub mod app;
pub mod appliance;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod backups;
pub mod bench;
pub mod calendar;
pub mod changes;
pub mod chat;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod disk;
pub mod docs;
pub mod egress;
pub mod error;
pub mod extract;
pub mod llm;
pub mod memory;
pub mod metrics;
pub mod pages;
pub mod redact;
pub mod schedule;
pub mod search;
pub mod store;
pub mod text;
pub mod web;

pub use app::{AppState, router, run};
