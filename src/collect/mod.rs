//! Collectors: bring evidence into the workdir without modifying it.
//!
//! Every collector validates its input, copies it under the workdir and
//! records provenance in the state file. Later collectors (sos reports,
//! Kubernetes, flow dumps) land here beside [`db`].

pub mod db;
