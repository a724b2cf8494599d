//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7643 §5–§7), generated from
//! the same tables and constants the code enforces.

use serde_json::{json, Value};

use super::list::{list_response, MAX_COUNT};
use super::schema::{Attribute, Schema, ALL_SCHEMAS, CORE_USER, FASTLY_USER, USER_EXTENSIONS};

pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://github.com/scim-edge/scim-edge#readme",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Fastly API token",
                "description": "A Fastly API token of a superuser with global scope and access to all services, sent as 'Authorization: Bearer <token>'.",
                "primary": true
            },
            {
                "type": "httpbasic",
                "name": "HTTP Basic",
                "description": "The same Fastly API token as the password of HTTP Basic authentication; the user name is ignored."
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

pub fn user_resource_type(base: &str) -> Value {
    // Every user carries the Fastly extension (its role); the enterprise extension is optional.
    let extensions: Vec<Value> =
        USER_EXTENSIONS.iter().map(|s| json!({"schema": s.id, "required": s.id == FASTLY_USER})).collect();
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": CORE_USER,
        "schemaExtensions": extensions,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    })
}

pub fn resource_types(base: &str) -> Value {
    list_response(1, 1, vec![user_resource_type(base)])
}

fn attribute(a: &Attribute) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": a.kind.as_str(),
        "multiValued": a.multi_valued,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": a.mutability.as_str(),
        "returned": a.returned.as_str(),
        "uniqueness": a.uniqueness.as_str(),
    });
    if let Some(m) = v.as_object_mut() {
        if !a.canonical_values.is_empty() {
            m.insert("canonicalValues".into(), json!(a.canonical_values));
        }
        if !a.reference_types.is_empty() {
            m.insert("referenceTypes".into(), json!(a.reference_types));
        }
        if !a.sub_attributes.is_empty() {
            m.insert("subAttributes".into(), a.sub_attributes.iter().map(attribute).collect());
        }
    }
    v
}

pub fn schema(s: &Schema, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attributes.iter().map(attribute).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", s.id)},
    })
}

pub fn schemas(base: &str) -> Value {
    let all: Vec<Value> = ALL_SCHEMAS.iter().map(|s| schema(s, base)).collect();
    list_response(all.len(), 1, all)
}

pub fn find_schema(id: &str) -> Option<&'static Schema> {
    ALL_SCHEMAS.iter().copied().find(|s| s.id.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::FASTLY_ROLES;

    #[test]
    fn schemas_advertise_the_enforced_tables() {
        let s = schema(&crate::scim::schema::USER_SCHEMA, "b");
        let attrs = s["attributes"].as_array().unwrap();
        let user_name = attrs.iter().find(|a| a["name"] == "userName").unwrap();
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["caseExact"], false);
        let password = attrs.iter().find(|a| a["name"] == "password").unwrap();
        assert_eq!(password["returned"], "never");
        let roles = attrs.iter().find(|a| a["name"] == "roles").unwrap();
        let value = roles["subAttributes"].as_array().unwrap().iter().find(|a| a["name"] == "value").unwrap();
        assert_eq!(value["canonicalValues"], json!(FASTLY_ROLES));
    }

    #[test]
    fn resource_type_lists_both_extensions() {
        let rt = user_resource_type("b");
        assert_eq!(rt["schemaExtensions"].as_array().unwrap().len(), 2);
        assert_eq!(resources_total(&schemas("b")), 3);
    }

    fn resources_total(v: &Value) -> u64 {
        v["totalResults"].as_u64().unwrap()
    }
}
