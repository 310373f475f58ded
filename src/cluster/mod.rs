//! Several nodes side by side (issue #19): the overlay each node's capture
//! describes ([`topology`]) and a trace that follows a packet across
//! tunnels from node to node ([`trace`]).

pub mod topology;
pub mod trace;
