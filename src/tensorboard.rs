//! A TensorBoard event-file writer: `tensorflow.Event` protos (the few fields we use, with their
//! field numbers from tensorflow/core/util/event.proto and summary.proto) framed as TFRecords:
//! `u64 length`, `u32 masked CRC-32C of the length`, data, `u32 masked CRC-32C of the data`.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use prost::Message;

#[derive(Clone, PartialEq, Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(string, optional, tag = "3")]
    file_version: Option<String>,
    #[prost(message, optional, tag = "5")]
    summary: Option<Summary>,
}

#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<Value>,
}

#[derive(Clone, PartialEq, Message)]
struct Value {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
    #[prost(message, optional, tag = "4")]
    image: Option<Image>,
}

#[derive(Clone, PartialEq, Message)]
struct Image {
    #[prost(int32, tag = "1")]
    height: i32,
    #[prost(int32, tag = "2")]
    width: i32,
    #[prost(int32, tag = "3")]
    colorspace: i32,
    #[prost(bytes = "vec", tag = "4")]
    encoded_image_string: Vec<u8>,
}

pub struct EventWriter {
    out: BufWriter<File>,
    pub path: PathBuf,
}

fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xA282_EAD8)
}

/// An io error that names its file (a full disk or a read-only folder must say where).
fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl EventWriter {
    /// A new event file in `dir` (`events.out.tfevents.<secs>.<host>`, made unique if needed).
    pub fn create(dir: &Path) -> std::io::Result<EventWriter> {
        std::fs::create_dir_all(dir).map_err(|e| named(dir, e))?;
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        let host = if host.is_empty() { "localhost".to_string() } else { host };
        let secs = now() as u64;
        let mut path = dir.join(format!("events.out.tfevents.{secs}.{host}"));
        let mut k = 1;
        while path.exists() {
            path = dir.join(format!("events.out.tfevents.{secs}.{host}.{k}"));
            k += 1;
        }
        let file = File::create(&path).map_err(|e| named(&path, e))?;
        let mut w = EventWriter { out: BufWriter::new(file), path };
        w.write(&Event { wall_time: now(), step: 0, file_version: Some("brain.Event:2".into()), summary: None })?;
        w.flush()?;
        Ok(w)
    }

    fn write(&mut self, e: &Event) -> std::io::Result<()> {
        let data = e.encode_to_vec();
        let len = (data.len() as u64).to_le_bytes();
        let record = [&len[..], &masked_crc(&len).to_le_bytes(), &data, &masked_crc(&data).to_le_bytes()].concat();
        self.out.write_all(&record).map_err(|e| named(&self.path, e))
    }

    fn summary(&mut self, step: i64, value: Value) -> std::io::Result<()> {
        self.write(&Event { wall_time: now(), step, file_version: None, summary: Some(Summary { value: vec![value] }) })
    }

    pub fn scalar(&mut self, tag: &str, step: i64, v: f64) -> std::io::Result<()> {
        self.summary(step, Value { tag: tag.into(), simple_value: Some(v as f32), image: None })
    }

    /// A greyscale image from values in [0, 1], `rows` x `cols`, scaled by `scale` pixels per cell.
    pub fn grey_image(
        &mut self,
        tag: &str,
        step: i64,
        cells: &[f32],
        rows: usize,
        cols: usize,
        scale: usize,
    ) -> std::io::Result<()> {
        let (h, w) = (rows * scale, cols * scale);
        let mut px = Vec::with_capacity(h * w);
        for y in 0..h {
            for x in 0..w {
                px.push((cells[(y / scale) * cols + x / scale].clamp(0.0, 1.0) * 255.0).round() as u8);
            }
        }
        let mut encoded = vec![];
        {
            let mut enc = png::Encoder::new(&mut encoded, w as u32, h as u32);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header().map_err(std::io::Error::other)?;
            wr.write_image_data(&px).map_err(std::io::Error::other)?;
        }
        let image = Image { height: h as i32, width: w as i32, colorspace: 1, encoded_image_string: encoded };
        self.summary(step, Value { tag: tag.into(), simple_value: None, image: Some(image) })
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush().and_then(|_| self.out.get_ref().sync_data()).map_err(|e| named(&self.path, e))
    }
}
