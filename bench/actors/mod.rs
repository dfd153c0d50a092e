//! The threads that talk to brokers over `ringbroker::client` (the blocking connection):
//! bootstrap, partition assignment, producers and consumers.
pub mod assignment;
pub mod cluster;
pub mod consumer;
pub mod producer;
