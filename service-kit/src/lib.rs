//! Plumbing the two services share: the shape of errors on the wire, reading JSON request
//! bodies, talking to SQLite through a trait the host target can test, versioned migrations, and
//! the sign-in token's claims and checks.
//!
//! Nothing here knows about users or posts; each service keeps its own rules.

pub mod body;
pub mod db;
pub mod problem;
pub mod query;
pub mod read_model;
pub mod resource;
pub mod respond;
pub mod rules;
pub mod token;

pub use problem::Problem;
