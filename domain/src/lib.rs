//! The CRM's domain: its events, commands and aggregates (Manager, Pipeline, Client,
//! Lead, Deal, Task, Interaction) as pure `decide`/`evolve` functions over plain data,
//! with the domain's errors.
//!
//! This crate does no IO and nothing async: it is tested with given-events,
//! when-command, then-events-or-error cases and no database. The event types and
//! rules of the HTTP contract arrive here with the command API.
