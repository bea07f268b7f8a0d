//! HJ 212 (placeholder while DL/T 645 lands).
