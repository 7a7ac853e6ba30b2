//! `sellers.json` (IAB Tech Lab, version 1.0) from the publisher registry: who the
//! exchange pays for inventory, so a buyer can look up the `sid` of the exchange's
//! supply-chain node and an ads.txt line's account id.
//!
//! Every registered publisher is a seller under its registry id. A confidential one is
//! listed by id and type only; the others with their name and business domain (the
//! registry's `business_domain`, else their first site domain; none for an app-only
//! publisher without one).

use super::Registry;
use bidder_sdk::openrtb::Json;
use serde_json::{json, Map};

/// The file's own fields: who to contact at the exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// `contact_email`.
    pub email: Option<String>,
    /// `contact_address`.
    pub address: Option<String>,
    /// `identifiers`: (name, value) pairs, e.g. ("TAG-ID", "…").
    pub identifiers: Vec<(String, String)>,
}

/// The `sellers.json` document of `registry`.
pub fn document(registry: &Registry, contact: &Contact) -> Json {
    let sellers: Vec<Json> = registry
        .sorted()
        .into_iter()
        .map(|(id, publisher)| {
            let mut seller = Map::new();
            seller.insert("seller_id".to_owned(), Json::from(id));
            seller.insert(
                "seller_type".to_owned(),
                Json::from(publisher.seller_type.as_str()),
            );
            seller.insert(
                "is_confidential".to_owned(),
                Json::from(u8::from(publisher.confidential)),
            );
            if !publisher.confidential {
                seller.insert("name".to_owned(), Json::from(publisher.name.as_str()));
                let domain = publisher
                    .business_domain
                    .as_deref()
                    .or(publisher.domains.first().map(String::as_str));
                if let Some(domain) = domain {
                    seller.insert("domain".to_owned(), Json::from(domain));
                }
            }
            Json::Object(seller)
        })
        .collect();
    let mut document = Map::new();
    if let Some(email) = &contact.email {
        document.insert("contact_email".to_owned(), Json::from(email.as_str()));
    }
    if let Some(address) = &contact.address {
        document.insert("contact_address".to_owned(), Json::from(address.as_str()));
    }
    document.insert("version".to_owned(), Json::from("1.0"));
    if !contact.identifiers.is_empty() {
        let identifiers = contact
            .identifiers
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect();
        document.insert("identifiers".to_owned(), Json::Array(identifiers));
    }
    document.insert("sellers".to_owned(), Json::Array(sellers));
    Json::Object(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_publisher_is_a_seller_and_confidential_ones_say_no_more() {
        let registry = Registry::parse(
            r#"
            [[publishers]]
            id = "b-open"
            name = "Open Media"
            domains = ["open.example"]
            [[publishers]]
            id = "a-hidden"
            name = "Hidden Network"
            domains = ["hidden.example"]
            seller_type = "intermediary"
            confidential = true
            [[publishers]]
            id = "c-apps"
            name = "Apps Only"
            bundles = ["com.apps"]
            seller_type = "both"
            business_domain = "Apps.Example"
            "#,
            "t",
        )
        .expect("valid");
        let contact = Contact {
            email: Some("ops@exchange.example".to_owned()),
            identifiers: vec![("TAG-ID".to_owned(), "abc123".to_owned())],
            ..Contact::default()
        };
        let document = document(&registry, &contact);
        assert_eq!(document["version"], "1.0");
        assert_eq!(document["contact_email"], "ops@exchange.example");
        assert!(document.get("contact_address").is_none());
        assert_eq!(document["identifiers"][0]["name"], "TAG-ID");
        let sellers = document["sellers"].as_array().expect("sellers");
        let ids: Vec<&str> = sellers
            .iter()
            .map(|s| s["seller_id"].as_str().expect("id"))
            .collect();
        assert_eq!(ids, ["a-hidden", "b-open", "c-apps"], "in id order");
        assert_eq!(
            sellers[0],
            json!({"seller_id": "a-hidden", "seller_type": "INTERMEDIARY", "is_confidential": 1})
        );
        assert_eq!(sellers[1]["domain"], "open.example");
        assert_eq!(sellers[1]["seller_type"], "PUBLISHER");
        assert_eq!(sellers[1]["name"], "Open Media");
        assert_eq!(sellers[2]["domain"], "apps.example", "the business domain");
        assert_eq!(sellers[2]["seller_type"], "BOTH");
    }

    #[test]
    fn a_bad_business_domain_is_named() {
        let errors = Registry::parse(
            "[[publishers]]\nid = \"p\"\nname = \"P\"\nbusiness_domain = \"not a domain\"",
            "t",
        )
        .expect_err("invalid");
        assert!(
            errors[0].to_string().contains("business_domain"),
            "{errors:?}"
        );
    }
}
