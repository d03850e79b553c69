//! `orchard-net`: the one door through which anything leaves the machine.
//!
//! Every outbound HTTP request in Orchard is made by [`HttpClient`]. That gives one
//! place for proxy rules, timeouts, and the egress ledger (promise L3): each request,
//! whether it succeeds, fails, or is abandoned half-way, produces exactly one
//! [`orchard_core::egress::EgressEntry`] with host, port, purpose, byte counts and
//! outcome, and never a path, query string, header or body.
//!
//! No other crate in the workspace depends on an HTTP client; a test in `orchard-cli`
//! checks that with `cargo metadata`.

mod client;
mod error;
mod proxy;

pub use client::{HttpClient, NetConfig, RequestBuilder, Response};
pub use error::{NetError, NetErrorKind};
pub use proxy::{NoProxy, ProxySettings, ProxyUrl, ProxyUrlError};
pub use reqwest::header;
pub use reqwest::{Method, StatusCode};
pub use url::Url;
