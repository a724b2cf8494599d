//! RFC 7644 §3.4.2.2 filters: parse (bounded) and evaluate.
