//! The threads that talk to brokers: a blocking Kafka connection on our codec, bootstrap,
//! partition assignment, producers and consumers.
pub mod assignment;
pub mod cluster;
pub mod connection;
pub mod consumer;
pub mod producer;
