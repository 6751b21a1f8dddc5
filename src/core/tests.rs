//! Unit tests of the core with a scripted peer.
