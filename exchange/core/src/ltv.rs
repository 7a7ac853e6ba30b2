//! Customer lifetime value from a probabilistic customer-base model: **BG/NBD** (how
//! often a customer buys, and whether they are still active) with **Gamma-Gamma** (how
//! much they spend per order). Serving uses the closed forms ([`model`]) from a handful
//! of fitted parameters and four numbers per customer (repeat purchases `x`, time of the
//! last one `t_x`, age `T`, mean order value), time in weeks; [`fit`] estimates the
//! parameters by maximum likelihood; [`hyp2f1`] is the Gauss hypergeometric function the
//! expected-purchases formula needs; [`orders`] turns an order file into model inputs;
//! [`train`] is `exchange train-ltv` (fit, model file, holdout report); [`history`] is a
//! user's purchases as the store keeps them. Reading the model file is the server's.

pub mod fit;
pub mod history;
pub mod hyp2f1;
pub mod model;
pub mod orders;
pub mod synthetic;
pub mod train;
pub mod user;

pub use history::PurchaseHistory;
pub use model::{BgNbd, Customer, GammaGamma};
