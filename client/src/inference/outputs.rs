//! Answers: the node's encoding of `score` and `label` and everyone
//! else's decoding of them, side by side so the two cannot drift. Typed
//! contents (`fp32_contents`, `bool_contents`) or, when the request came
//! raw, `raw_output_contents` (one entry per output, in order: FP32 as 4
//! little-endian bytes, BOOL as one byte).

use joust_proto::inference as oip;
use joust_proto::inference::model_infer_response::InferOutputTensor;

use super::{BOOL, CodecError, FP32, LABEL, SCORE};

/// Which of `score` and `label` an answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requested {
    pub score: bool,
    pub label: bool,
}

impl Requested {
    /// Both outputs (a request that names none).
    pub const ALL: Requested = Requested {
        score: true,
        label: true,
    };
}

/// The answer to a scored batch: `score` (FP32 `[N]`) and `label` (BOOL
/// `[N]`) as `requested`, typed or `raw`. Takes the vectors so typed
/// contents move into the message without a copy.
pub fn encode_outputs(
    model_name: String,
    version: u64,
    id: String,
    scores: Vec<f32>,
    labels: Vec<bool>,
    requested: Requested,
    raw: bool,
) -> oip::ModelInferResponse {
    let n = scores.len() as i64;
    let mut outputs = Vec::with_capacity(2);
    let mut raw_output_contents = Vec::new();
    let tensor = |name: &str, datatype: &str, contents| InferOutputTensor {
        name: name.to_owned(),
        datatype: datatype.to_owned(),
        shape: vec![n],
        parameters: Default::default(),
        contents,
    };
    if requested.score {
        let contents = if raw {
            raw_output_contents.push(scores.iter().flat_map(|s| s.to_le_bytes()).collect());
            None
        } else {
            Some(oip::InferTensorContents {
                fp32_contents: scores,
                ..Default::default()
            })
        };
        outputs.push(tensor(SCORE, FP32, contents));
    }
    if requested.label {
        let contents = if raw {
            raw_output_contents.push(labels.iter().map(|l| u8::from(*l)).collect());
            None
        } else {
            Some(oip::InferTensorContents {
                bool_contents: labels,
                ..Default::default()
            })
        };
        outputs.push(tensor(LABEL, BOOL, contents));
    }
    oip::ModelInferResponse {
        model_name,
        model_version: version.to_string(),
        id,
        parameters: Default::default(),
        outputs,
        raw_output_contents,
    }
}

/// The FP32 values of one output, borrowed from the message (typed or
/// raw); nothing is copied until they are collected.
#[derive(Debug, Clone)]
pub enum Fp32Values<'a> {
    Typed(std::slice::Iter<'a, f32>),
    Raw(std::slice::ChunksExact<'a, u8>),
}

impl Iterator for Fp32Values<'_> {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        match self {
            Fp32Values::Typed(it) => it.next().copied(),
            Fp32Values::Raw(it) => it
                .next()
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Fp32Values::Typed(it) => it.size_hint(),
            Fp32Values::Raw(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for Fp32Values<'_> {}

/// The BOOL values of one output, borrowed from the message (typed, or
/// raw bytes where any non-zero byte is `true`).
#[derive(Debug, Clone)]
pub enum BoolValues<'a> {
    Typed(std::slice::Iter<'a, bool>),
    Raw(std::slice::Iter<'a, u8>),
}

impl Iterator for BoolValues<'_> {
    type Item = bool;

    fn next(&mut self) -> Option<bool> {
        match self {
            BoolValues::Typed(it) => it.next().copied(),
            BoolValues::Raw(it) => it.next().map(|b| *b != 0),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            BoolValues::Typed(it) => it.size_hint(),
            BoolValues::Raw(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for BoolValues<'_> {}

/// Where an output's values are.
enum Located<'a> {
    Typed(&'a oip::InferTensorContents),
    Raw(&'a [u8]),
    /// Neither typed contents nor raw bytes: no values.
    Empty,
}

/// Finds output `name`, checks its datatype and where its values are.
fn locate<'a>(
    r: &'a oip::ModelInferResponse,
    name: &'static str,
    datatype: &'static str,
) -> Result<Option<(usize, &'a InferOutputTensor, Located<'a>)>, CodecError> {
    let raw = !r.raw_output_contents.is_empty();
    if raw && r.raw_output_contents.len() != r.outputs.len() {
        return Err(CodecError::RawCount {
            expected: r.outputs.len(),
            found: r.raw_output_contents.len(),
        });
    }
    let Some((index, out)) = r.outputs.iter().enumerate().find(|(_, o)| o.name == name) else {
        return Ok(None);
    };
    if out.datatype != datatype {
        return Err(CodecError::Datatype {
            index,
            name,
            expected: datatype,
            found: out.datatype.clone(),
        });
    }
    let located = match (&out.contents, r.raw_output_contents.get(index)) {
        (Some(c), Some(_)) if !c.fp32_contents.is_empty() || !c.bool_contents.is_empty() => {
            return Err(CodecError::RawAndContents { index });
        }
        (_, Some(bytes)) => Located::Raw(bytes),
        (Some(c), None) => Located::Typed(c),
        (None, None) => Located::Empty,
    };
    Ok(Some((index, out, located)))
}

/// Checks that `shape` describes `found` values.
fn check_shape(index: usize, out: &InferOutputTensor, found: usize) -> Result<(), CodecError> {
    let count = out.shape.iter().try_fold(1u64, |acc, d| {
        u64::try_from(*d).ok().and_then(|d| acc.checked_mul(d))
    });
    if count == Some(found as u64) {
        Ok(())
    } else {
        Err(CodecError::Shape {
            index,
            shape: out.shape.clone(),
            found,
        })
    }
}

/// The values of FP32 output `name` (e.g. [`SCORE`]); `None` when the
/// answer has no such output.
pub fn fp32_output<'a>(
    r: &'a oip::ModelInferResponse,
    name: &'static str,
) -> Result<Option<Fp32Values<'a>>, CodecError> {
    let Some((index, out, located)) = locate(r, name, FP32)? else {
        return Ok(None);
    };
    let values = match located {
        Located::Typed(c) => Fp32Values::Typed(c.fp32_contents.iter()),
        Located::Raw(bytes) if bytes.len() % 4 != 0 => {
            return Err(CodecError::RawLength {
                index,
                datatype: FP32,
                per_value: 4,
                found: bytes.len(),
            });
        }
        Located::Raw(bytes) => Fp32Values::Raw(bytes.chunks_exact(4)),
        Located::Empty => Fp32Values::Typed([].iter()),
    };
    check_shape(index, out, values.len())?;
    Ok(Some(values))
}

/// The values of BOOL output `name` (e.g. [`LABEL`]); `None` when the
/// answer has no such output.
pub fn bool_output<'a>(
    r: &'a oip::ModelInferResponse,
    name: &'static str,
) -> Result<Option<BoolValues<'a>>, CodecError> {
    let Some((index, out, located)) = locate(r, name, BOOL)? else {
        return Ok(None);
    };
    let values = match located {
        Located::Typed(c) => BoolValues::Typed(c.bool_contents.iter()),
        Located::Raw(bytes) => BoolValues::Raw(bytes.iter()),
        Located::Empty => BoolValues::Typed([].iter()),
    };
    check_shape(index, out, values.len())?;
    Ok(Some(values))
}

/// Scores and labels of an answer and the version that produced them.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub scores: Vec<f32>,
    pub labels: Vec<bool>,
    pub model_version: String,
}

/// Reads `score` and `label` (both required) of an answer, `rows` of each
/// when given (else as many labels as scores). Typed contents are moved
/// out, not copied.
pub fn decode(mut r: oip::ModelInferResponse, rows: Option<usize>) -> Result<Scored, CodecError> {
    let missing = |r: &oip::ModelInferResponse, name| CodecError::MissingOutput {
        name,
        found: r.outputs.iter().map(|o| o.name.clone()).collect(),
    };
    let raw = !r.raw_output_contents.is_empty();
    let (scores, labels) = {
        let scores = fp32_output(&r, SCORE)?.ok_or_else(|| missing(&r, SCORE))?;
        let labels = bool_output(&r, LABEL)?.ok_or_else(|| missing(&r, LABEL))?;
        if raw {
            (Some(scores.collect()), Some(labels.collect()))
        } else {
            (None, None)
        }
    };
    let mut take = |name: &str| {
        r.outputs
            .iter_mut()
            .find(|o| o.name == name)
            .and_then(|o| o.contents.take())
            .unwrap_or_default()
    };
    let scores: Vec<f32> = scores.unwrap_or_else(|| take(SCORE).fp32_contents);
    let labels: Vec<bool> = labels.unwrap_or_else(|| take(LABEL).bool_contents);
    let expected = rows.unwrap_or(scores.len());
    for (name, found) in [(SCORE, scores.len()), (LABEL, labels.len())] {
        if found != expected {
            return Err(CodecError::Rows {
                name,
                expected,
                found,
            });
        }
    }
    Ok(Scored {
        scores,
        labels,
        model_version: r.model_version,
    })
}
