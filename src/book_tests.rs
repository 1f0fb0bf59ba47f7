//! The guide's chapters and the README as doctests, so that their code
//! cannot drift from the crate: `cargo test --doc` compiles and runs every
//! Rust block in them. Compiled only for doctests.

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct Readme;
#[doc = include_str!("../book/src/introduction.md")]
#[cfg(doctest)]
pub struct Introduction;
#[doc = include_str!("../book/src/getting-started.md")]
#[cfg(doctest)]
pub struct GettingStarted;
#[doc = include_str!("../book/src/waitgroup.md")]
#[cfg(doctest)]
pub struct TheWaitGroup;
#[doc = include_str!("../book/src/results-errors-cancellation.md")]
#[cfg(doctest)]
pub struct ResultsErrorsCancellation;
#[doc = include_str!("../book/src/fork-join.md")]
#[cfg(doctest)]
pub struct ForkJoin;
#[doc = include_str!("../book/src/pool.md")]
#[cfg(doctest)]
pub struct ThePool;
#[doc = include_str!("../book/src/async.md")]
#[cfg(doctest)]
pub struct WithAsyncCode;
#[doc = include_str!("../book/src/performance.md")]
#[cfg(doctest)]
pub struct Performance;
#[doc = include_str!("../book/src/internals.md")]
#[cfg(doctest)]
pub struct Internals;
#[doc = include_str!("../book/src/migrating.md")]
#[cfg(doctest)]
pub struct Migrating;
