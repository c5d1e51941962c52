//! Hearth's integration tests: one binary, a real server on 127.0.0.1 per
//! test, real SQLite files. One module per capability, and `engine` for the
//! model engine's own guarantees.

mod common;

mod access;
mod admin;
mod api;
mod assistant_settings;
mod audit;
mod auth;
mod backup;
mod backups_web;
mod changes;
mod chat;
mod chat_actions;
mod cli;
mod cloud;
mod config;
mod deploy;
mod docs;
mod engine;
mod extract;
mod home;
mod metrics;
mod models;
mod reviews;
mod schedule;
mod schedule_ics;
mod schedule_setup;
mod setup;
mod store;
mod tidy;
mod two_factor;
mod update;
mod web;
