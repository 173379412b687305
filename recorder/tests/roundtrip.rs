//! End-to-end tests through the public API: record random byte streams chunked at random
//! boundaries, read them back and require the exact bytes; check the header, resize and marker
//! events, and the event time format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use portcullis_recorder::{read_cast, seal_file, CastHeader, Recorder};

/// Seeded, so a failure reproduces.
fn random_stream(rng: &mut StdRng, pieces: usize) -> Vec<u8> {
    let samples: [&[u8]; 14] = [
        "😀".as_bytes(),
        "é".as_bytes(),
        "中文".as_bytes(),
        b"\x1b[1;31mred\x1b[0m",
        b"\"quoted\" back\\slash",
        b"\r\n\t\x00\x07\x7f",
        &[0xff],
        &[0xc3],
        &[0xc0, 0xaf],
        &[0xed, 0xa0, 0x80],
        &[0xf4, 0x90, 0x80, 0x80],
        &[0xe2, 0x82],
        b"$ ls -la /var/log\n",
        "\u{10ffff}\u{2028}".as_bytes(),
    ];
    let mut out = Vec::new();
    for _ in 0..pieces {
        match rng.gen_range(0..4) {
            0 => out.extend((0..rng.gen_range(0..8)).map(|_| rng.gen::<u8>())),
            _ => out.extend_from_slice(samples[rng.gen_range(0..samples.len())]),
        }
    }
    out
}

fn chunks(rng: &mut StdRng, data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rng.gen_range(0..rest.len().min(40) + 1));
        out.push(chunk.to_vec());
        rest = tail;
    }
    out
}

#[tokio::test]
async fn random_streams_round_trip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for round in 0..20 {
        let path = dir.path().join(format!("r{round}.cast"));
        let output = random_stream(&mut rng, 200);
        let input = random_stream(&mut rng, 50);
        let (rec, handle) = Recorder::create(&path, CastHeader::new(80, 24, 1_700_000_000))
            .await
            .unwrap();
        let mut out_chunks = chunks(&mut rng, &output).into_iter();
        let mut in_chunks = chunks(&mut rng, &input).into_iter();
        loop {
            let (o, i) = if rng.gen_range(0..2) == 0 {
                (out_chunks.next(), None)
            } else {
                (None, in_chunks.next())
            };
            if let Some(o) = &o {
                rec.output(o).await.unwrap();
            }
            if let Some(i) = &i {
                rec.input(i).await.unwrap();
            }
            if o.is_none() && i.is_none() && out_chunks.len() == 0 && in_chunks.len() == 0 {
                break;
            }
        }
        let seal = handle.finish().await.unwrap();
        let cast = read_cast(&path).unwrap();
        assert_eq!(cast.output_bytes(), output, "output of round {round}");
        assert_eq!(cast.input_bytes(), input, "input of round {round}");
        assert_eq!(seal.events, cast.events.len() as u64);
        assert_eq!(seal, seal_file(&path).unwrap());
    }
}

#[tokio::test]
async fn split_emoji_is_one_character_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.cast");
    let (rec, handle) = Recorder::create(&path, CastHeader::new(80, 24, 0))
        .await
        .unwrap();
    let emoji = "😀".as_bytes();
    rec.output(&[b'a', emoji[0]]).await.unwrap();
    rec.output(&emoji[1..3]).await.unwrap();
    rec.output(&[emoji[3], b'b']).await.unwrap();
    rec.output(&[0xe2, 0x82]).await.unwrap(); // never completed: escaped at finish
    handle.finish().await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].ends_with(", \"o\", \"a\"]"), "{}", lines[1]);
    assert!(lines[2].ends_with(", \"o\", \"😀b\"]"), "{}", lines[2]);
    assert!(
        lines[3].ends_with(", \"o\", \"\\udce2\\udc82\"]"),
        "{}",
        lines[3]
    );
    let cast = read_cast(&path).unwrap();
    assert_eq!(
        cast.output_bytes(),
        [b"a".as_slice(), emoji, b"b", &[0xe2, 0x82]].concat()
    );
}

#[tokio::test]
async fn header_resize_marker_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.cast");
    let header = CastHeader {
        width: 120,
        height: 40,
        timestamp: 1_700_000_123,
        command: Some("ssh vendor@pacs01".into()),
        title: Some("Vendor session \"PACS\"".into()),
        term: Some("xterm-256color".into()),
        env: BTreeMap::from([("SHELL".into(), "/bin/bash".into())]),
    };
    let (rec, handle) = Recorder::create(&path, header.clone()).await.unwrap();
    rec.output(b"login ok\r\n").await.unwrap();
    rec.resize(80, 24).await.unwrap();
    rec.marker("window closes in 5 min").await.unwrap();
    rec.input(b"exit\r").await.unwrap();
    handle.finish().await.unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let first = text.lines().next().unwrap();
    let v: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["width"], 120);
    assert_eq!(v["height"], 40);
    assert_eq!(v["timestamp"], 1_700_000_123i64);
    assert_eq!(v["command"], "ssh vendor@pacs01");
    assert_eq!(v["env"]["TERM"], "xterm-256color");
    assert_eq!(v["env"]["SHELL"], "/bin/bash");

    let cast = read_cast(&path).unwrap();
    assert_eq!(cast.header, header);
    let codes: Vec<&str> = cast.events.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, ["o", "r", "m", "i"]);
    assert_eq!(cast.events[1].data, b"80x24");
    assert_eq!(cast.events[2].data, b"window closes in 5 min");
    for pair in cast.events.windows(2) {
        assert!(pair[0].time <= pair[1].time);
    }
    // Every event time has exactly six decimals.
    for line in text.lines().skip(1) {
        let time = &line[1..line.find(',').unwrap()];
        let (_, frac) = time.split_once('.').unwrap();
        assert_eq!(frac.len(), 6, "{line}");
    }
}
