//! What travels on the wire and is not a resource: the form extractor, dates, durations,
//! JSON-in-string attributes, URLs and pages. Handlers parse with these and render with these.

pub mod form;
pub mod json;
pub mod paging;
pub mod params;
pub mod time;
pub mod urls;

pub use form::{TwilioForm, TwilioQuery};
