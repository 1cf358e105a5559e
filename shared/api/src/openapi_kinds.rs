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
            let names: Vec<&str> = spec.inputs.iter().map(|i| i.name).collect();
            let named: Map<String, Value> = spec
                .inputs
                .iter()
                .map(|i| {
                    (
                        i.name.to_string(),
                        json!({"type": "string", "minLength": 1, "description": format!(
                            "{} ({}): a blob key or `job:{{id}}/{{output}}`",
                            i.description,
                            i.content_types.join(", ")
                        )}),
                    )
                })
                .collect();
            props.insert(
                "inputs".into(),
                json!({"type": "object", "properties": named, "additionalProperties": false}),
            );
            if let Some(first) = names.first() {
                props.insert(
                    "input_key".into(),
                    json!({"type": ["string", "null"], "minLength": 1,
                        "description": format!("Shorthand for `inputs.{first}`.")}),
                );
                // The first input by exactly one of the two spellings; the others by name.
                let rest: Vec<&str> = names[1..].to_vec();
                let mut with_key = json!({"required": ["input_key"],
                    "properties": {"input_key": {"type": "string"},
                        "inputs": {"not": {"required": [first]}}}});
                let mut with_inputs = json!({
                    "properties": {"input_key": {"type": "null"}},
                    "required": ["inputs"]
                });
                with_inputs["properties"]["inputs"] = json!({"required": names});
                if !rest.is_empty() {
                    with_key["required"] = json!(["input_key", "inputs"]);
                    with_key["properties"]["inputs"]["required"] = json!(rest);
                }
                variant["oneOf"] = json!([with_key, with_inputs]);
            } else {
                props.insert(
                    "input_key".into(),
                    json!({"type": "null", "description": "This kind takes no input."}),
                );
                props.insert(
                    "inputs".into(),
                    json!({"type": "object", "maxProperties": 0, "description": "This kind takes no input."}),
                );
            }
        }
        if let Some(req) = variant.get_mut("required").and_then(Value::as_array_mut) {
            req.retain(|r| r != "input_key");
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
    // An upload's jobs: a runnable kind that takes an input, by name or with its params.
    let upload_kinds: Vec<_> = kinds
        .registry
        .specs()
        .iter()
        .filter(|s| available.contains(&s.name) && !s.inputs.is_empty())
        .collect();
    let mut items = vec![
        json!({"type": "string", "enum": upload_kinds.iter().map(|s| s.name).collect::<Vec<_>>()}),
    ];
    for spec in &upload_kinds {
        items.push(json!({
            "type": "object",
            "required": ["kind"],
            "additionalProperties": false,
            "properties": {
                "kind": {"type": "string", "const": spec.name},
                "params": {"oneOf": [
                    {"$ref": format!("#{COMPONENTS}/{}", spec.params_name)},
                    {"type": "null"}
                ]}
            }
        }));
    }
    if let Some(jobs) = doc.pointer_mut("/components/schemas/NewUpload/properties/jobs") {
        jobs["items"] = json!({"oneOf": items});
    }
    if let Some(existing) = doc.pointer_mut(COMPONENTS).and_then(Value::as_object_mut) {
        existing.extend(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coda_core::kinds::{KindParams, KindRegistry, KindSpec, NoParams, Route, Slot};
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
            KindSpec::new::<Level>("level", "levels", Route::Gpu, "LevelParams").inputs(&[Slot {
                name: "audio",
                content_types: &["audio/wav"],
                description: "a file",
            }]),
        ]);
        let kinds = Kinds::new(
            registry,
            &[JobKind::from_static("level"), JobKind::from_static("tick")],
        );
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
            json!([{"$ref": "#/components/schemas/NewJob_tick"}, {"$ref": "#/components/schemas/NewJob_level"}])
        );
        // A kind without inputs takes none; one with inputs takes input_key or inputs.audio.
        assert_eq!(s["NewJob_tick"]["properties"]["input_key"]["type"], "null");
        assert_eq!(s["NewJob_tick"]["properties"]["inputs"]["maxProperties"], 0);
        assert_eq!(s["NewJob_level"]["oneOf"][1]["required"], json!(["inputs"]));
        assert_eq!(
            s["NewJob_level"]["properties"]["inputs"]["properties"]["audio"]["type"],
            "string"
        );
        assert_eq!(s["NewJob_level"]["properties"]["kind"]["const"], "level");
        assert_eq!(
            s["NewJob_level"]["properties"]["params"]["oneOf"][0]["$ref"],
            "#/components/schemas/LevelParams"
        );
        assert_eq!(
            s["NewJob_level"]["properties"]["input_key"]["type"],
            json!(["string", "null"])
        );
        // Uploads start only kinds that take an input, by name or with params.
        let items = &s["NewUpload"]["properties"]["jobs"]["items"]["oneOf"];
        assert_eq!(items[0]["enum"], json!(["level"]));
        assert_eq!(items[1]["properties"]["kind"]["const"], "level");
        assert_eq!(items.as_array().unwrap().len(), 2);
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
