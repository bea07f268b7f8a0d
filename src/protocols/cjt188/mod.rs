//! CJ/T 188 (placeholder while DL/T 645 lands).
