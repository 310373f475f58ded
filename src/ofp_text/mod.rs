//! OVS OpenFlow text formats (placeholder, being written).
