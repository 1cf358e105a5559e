//! Reading one edit from JSON field by field, so an error names its field
//! (`semitones`, `measures.to`, `notes[3].pitch`). It accepts exactly what
//! [`Edit`]'s derived `Deserialize` accepts (tests hold the two together).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::values::{NoteSpec, Span};
use super::{Edit, Fail, EDIT_OPS};

/// The fields each op takes (besides `op`).
fn fields(op: &str) -> Option<&'static [&'static str]> {
    Some(match op {
        "transpose" => &["semitones", "interval", "part"],
        "set_tempo" => &["bpm", "measure"],
        "scale_tempo" => &["factor"],
        "dynamics" => &["level", "step", "part", "measures"],
        "set_lyrics" => &["part", "verse", "text", "measures", "notes", "voice"],
        "octave" => &["part", "by"],
        "select_part" => &["part"],
        "select_verse" => &["verse"],
        "delete_measures" => &["from", "to"],
        "insert_measures" => &["at", "count"],
        "replace_notes" => &["part", "measures", "notes"],
        _ => return None,
    })
}

/// A JSON object being read, with the path of its fields relative to the edit.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, prefix: &str, what: &str) -> Result<Obj<'a>, Fail> {
        let map = v
            .as_object()
            .ok_or_else(|| Fail::new(prefix, format!("must be an object ({what})")))?;
        Ok(Obj {
            map,
            prefix: prefix.to_owned(),
        })
    }

    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// Refuses keys outside `known` (and `skip`).
    fn only(&self, known: &[&str], skip: &str, owner: &str) -> Result<(), Fail> {
        for k in self.map.keys() {
            if k != skip && !known.contains(&k.as_str()) {
                return Err(Fail::new(
                    self.path(k),
                    format!(
                        "unknown field {k:?} for {owner}; its fields are: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn typed<T: DeserializeOwned>(&self, key: &str, v: &Value) -> Result<T, Fail> {
        T::deserialize(v).map_err(|e| Fail::new(self.path(key), e.to_string()))
    }

    /// An optional field (null reads as absent).
    fn opt<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Fail> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.typed(key, v).map(Some),
        }
    }

    /// A required field.
    fn req<T: DeserializeOwned>(&self, key: &str) -> Result<T, Fail> {
        match self.map.get(key) {
            None => Err(Fail::new(self.path(key), format!("missing field {key:?}"))),
            Some(v) => self.typed(key, v),
        }
    }

    fn span(&self, key: &str) -> Result<Option<Span>, Fail> {
        let Some(v) = self.map.get(key).filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let o = Obj::new(v, &self.path(key), "{\"from\": 1, \"to\": 4}")?;
        o.only(&["from", "to"], "", "a range")?;
        Ok(Some(Span {
            from: o.req("from")?,
            to: o.req("to")?,
        }))
    }

    fn req_span(&self, key: &str) -> Result<Span, Fail> {
        self.span(key)?
            .ok_or_else(|| Fail::new(self.path(key), format!("missing field {key:?}")))
    }

    fn notes(&self, key: &str) -> Result<Vec<NoteSpec>, Fail> {
        let v = self
            .map
            .get(key)
            .ok_or_else(|| Fail::new(self.path(key), format!("missing field {key:?}")))?;
        let list = v.as_array().ok_or_else(|| {
            Fail::new(
                self.path(key),
                "must be an array of notes such as {\"pitch\": \"C4\", \"duration\": 1}",
            )
        })?;
        list.iter()
            .enumerate()
            .map(|(i, n)| {
                let path = format!("{}[{i}]", self.path(key));
                let o = Obj::new(n, &path, "{\"pitch\": \"C4\", \"duration\": 1}")?;
                o.only(&["pitch", "duration", "tie"], "", "a note")?;
                Ok(NoteSpec {
                    pitch: o.opt("pitch")?,
                    duration: o.req("duration")?,
                    tie: o.opt("tie")?.unwrap_or(false),
                })
            })
            .collect()
    }
}

/// Reads one edit; errors name the field relative to the edit.
pub(crate) fn edit(v: &Value) -> Result<Edit, Fail> {
    let ops = EDIT_OPS.join(", ");
    let o = Obj::new(v, "", &format!("an edit with an \"op\": {ops}"))?;
    let op = match o.map.get("op") {
        None => {
            return Err(Fail::new(
                "op",
                format!("missing field \"op\"; one of: {ops}"),
            ))
        }
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(Fail::new(
                "op",
                format!("op must be a string, one of: {ops}"),
            ))
        }
    };
    let known = fields(op)
        .ok_or_else(|| Fail::new("op", format!("unknown op {op:?}; the ops are: {ops}")))?;
    o.only(known, "op", &format!("op {op:?}"))?;
    Ok(match op {
        "transpose" => Edit::Transpose {
            semitones: o.opt("semitones")?,
            interval: o.opt("interval")?,
            part: o.opt("part")?,
        },
        "set_tempo" => Edit::SetTempo {
            bpm: o.req("bpm")?,
            measure: o.opt("measure")?,
        },
        "scale_tempo" => Edit::ScaleTempo {
            factor: o.req("factor")?,
        },
        "dynamics" => Edit::Dynamics {
            level: o.opt("level")?,
            step: o.opt("step")?,
            part: o.opt("part")?,
            measures: o.span("measures")?,
        },
        "set_lyrics" => Edit::SetLyrics {
            part: o.req("part")?,
            verse: o.opt("verse")?.unwrap_or(1),
            text: o.req("text")?,
            measures: o.span("measures")?,
            notes: o.span("notes")?,
            voice: o.opt("voice")?,
        },
        "octave" => Edit::Octave {
            part: o.req("part")?,
            by: o.req("by")?,
        },
        "select_part" => Edit::SelectPart {
            part: o.req("part")?,
        },
        "select_verse" => Edit::SelectVerse {
            verse: o.req("verse")?,
        },
        "delete_measures" => Edit::DeleteMeasures {
            from: o.req("from")?,
            to: o.req("to")?,
        },
        "insert_measures" => Edit::InsertMeasures {
            at: o.req("at")?,
            count: o.req("count")?,
        },
        "replace_notes" => Edit::ReplaceNotes {
            part: o.req("part")?,
            measures: o.req_span("measures")?,
            notes: o.notes("notes")?,
        },
        _ => {
            return Err(Fail::new(
                "op",
                format!("unknown op {op:?}; the ops are: {ops}"),
            ))
        }
    })
}
