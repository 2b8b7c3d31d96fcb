//! Run descriptions: stages and (with the LLM workload) profiles. Everything is validated
//! before any load starts; errors name the offending text.

pub mod stages;
