//! The registry's part of the OpenAPI document: the kinds enum and a params schema per kind.
//!
//! The handlers' types know a kind only as a string; the served document is
//! completed from the deployment's [`Kinds`], so a new kind appears in it with
//! no change here, and a schema-valid submission names a kind this server runs
//! with params of that kind.

use coda_core::kinds::Kinds;
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

/// Where component schemas live, for the `$ref`s schemars writes.
const COMPONENTS: &str = "/components/schemas";

/// Adds the kinds to a serialised OpenAPI document.
pub fn add_kinds(doc: &mut Value, kinds: &Kinds) {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = COMPONENTS.into();
            s.meta_schema = None;
        })
        .into_generator();
    let mut schemas = Map::new();
    let described: Vec<String> = kinds
        .registry
        .specs()
        .iter()
        .map(|s| format!("`{}`: {}", s.name, s.description))
        .collect();
    schemas.insert(
        "JobKind".into(),
        json!({
            "type": "string",
            "enum": kinds.registry.specs().iter().map(|s| s.name).collect::<Vec<_>>(),
            "description": format!("A job kind. {}", described.join(" ")),
        }),
    );
    let available: Vec<&str> = kinds.available.iter().map(|k| k.as_str()).collect();
    let new_job = doc
        .pointer("/components/schemas/NewJob")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    let mut variants = Vec::new();
    let mut mapping = Map::new();
    for spec in kinds.registry.specs() {
        let params = serde_json::to_value(spec.params_schema(&mut generator)).unwrap_or(json!({}));
        let mut params = params;
        if let Some(o) = params.as_object_mut() {
            o.remove("$schema");
            // Null is accepted for "no params", as the handler does.
            o.entry("description")
                .or_insert_with(|| Value::String(format!("Parameters of a `{}` job.", spec.name)));
        }
        schemas.insert(spec.params_name.into(), params);
        if !available.contains(&spec.name) {
            continue;
        }
        let name = format!("NewJob_{}", spec.name);
        let mut variant = new_job.clone();
        if let Some(props) = variant.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                "kind".into(),
                json!({"type": "string", "const": spec.name, "description": spec.description}),
            );
            props.insert(
                "params".into(),
                json!({"oneOf": [
                    {"$ref": format!("#{COMPONENTS}/{}", spec.params_name)},
                    {"type": "null"}
                ]}),
            );
        }
        mapping.insert(
            spec.name.into(),
            Value::String(format!("#{COMPONENTS}/{name}")),
        );
        variants.push(json!({"$ref": format!("#{COMPONENTS}/{name}")}));
        schemas.insert(name, variant);
    }
    for (name, schema) in generator.take_definitions(true) {
        schemas.insert(name, schema);
    }
    schemas.insert(
        "NewJob".into(),
        json!({
            "description": "A job submission: the kind, its params and its input.",
            "oneOf": variants,
            "discriminator": {"propertyName": "kind", "mapping": mapping},
        }),
    );
    if let Some(jobs) = doc.pointer_mut("/components/schemas/NewUpload/properties/jobs") {
        jobs["items"] = json!({"type": "string", "enum": available});
    }
    if let Some(existing) = doc.pointer_mut(COMPONENTS).and_then(Value::as_object_mut) {
        existing.extend(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coda_core::kinds::{KindParams, KindRegistry, KindSpec, NoParams, Route};
    use coda_core::model::JobKind;

    #[derive(Default, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Level {
        /// How loud.
        gain: Option<Unit>,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Unit {
        Db,
        Linear,
    }

    impl KindParams for Level {}

    #[test]
    fn kinds_params_and_variants_land_in_the_components() {
        let registry = KindRegistry::new([
            KindSpec::new::<NoParams>("tick", "ticks", Route::Cpu, "TickParams"),
            KindSpec::new::<Level>("level", "levels", Route::Gpu, "LevelParams"),
        ]);
        let kinds = Kinds::new(registry, &[JobKind::from_static("level")]);
        let mut doc = json!({"components": {"schemas": {
            "NewJob": {"type": "object", "properties": {"kind": {"type": "string"}, "params": {}, "input_key": {"type": "string"}}},
            "NewUpload": {"type": "object", "properties": {"jobs": {"type": "array", "items": {"type": "string"}}}}
        }}});
        add_kinds(&mut doc, &kinds);
        let s = &doc["components"]["schemas"];
        assert_eq!(s["JobKind"]["enum"], json!(["tick", "level"]));
        // Only runnable kinds can be submitted.
        assert_eq!(
            s["NewJob"]["oneOf"],
            json!([{"$ref": "#/components/schemas/NewJob_level"}])
        );
        assert_eq!(s["NewJob_level"]["properties"]["kind"]["const"], "level");
        assert_eq!(
            s["NewJob_level"]["properties"]["params"]["oneOf"][0]["$ref"],
            "#/components/schemas/LevelParams"
        );
        assert_eq!(
            s["NewJob_level"]["properties"]["input_key"]["type"],
            "string"
        );
        assert_eq!(
            s["NewUpload"]["properties"]["jobs"]["items"]["enum"],
            json!(["level"])
        );
        // Named subschemas are components, and refs point at them.
        assert_eq!(
            s["LevelParams"]["properties"]["gain"]["anyOf"][0]["$ref"], "#/components/schemas/Unit",
            "{}",
            s["LevelParams"]
        );
        assert!(s["Unit"].is_object());
        assert_eq!(s["TickParams"]["additionalProperties"], json!(false));
        assert!(s["TickParams"].get("$schema").is_none());
    }
}
