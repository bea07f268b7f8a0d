//! Self-monitoring over HTTP. (Stub: being written.)
