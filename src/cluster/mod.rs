//! Cluster replicas (issue #19): a workspace of node workdirs.
//!
//! A [`workspace::Workspace`] is a directory holding a marker
//! (`workspace.json`) and one ordinary, self-contained workdir per node,
//! `WORKSPACE/<node>/`, named after the node the capture came from. Every
//! single-node command works on a node's workdir as on any other; a node's
//! replica is started only when something needs it
//! ([`workspace::Workspace::ensure_running`]), so a large cluster never
//! needs all its replicas running at once. The overlay each node's capture
//! describes is read by [`topology`]; the trace that follows a packet
//! across nodes, through tunnels, lives in [`trace`].

pub mod status;
pub mod topology;
pub mod trace;
pub mod workspace;
