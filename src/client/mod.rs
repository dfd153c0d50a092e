//! A small blocking Kafka client on our own codec, shared by ringbench (bench/) and the admin
//! CLI (`cli/`): frames, headers, version negotiation, request/response calls.
//!
//! Not part of the broker: no shard runs it. Callers use plain threads and std sockets with
//! timeouts on every call.
pub mod connection;
pub mod security;
