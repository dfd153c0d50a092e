//! Unit tests of the replica state machine.
