//! Shared helpers of the tool binaries.
