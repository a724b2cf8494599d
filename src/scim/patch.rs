//! RFC 7644 §3.5.2 PATCH: parse PatchOp requests and apply them to a User.
