//! PDFs (with lopdf's document API) and Word documents (with zip) made at run time for
//! the loader tests.

// Each test binary uses part of this module.
#![allow(dead_code)]

use lopdf::content::{Content, Operation};
use lopdf::{
    Dictionary, Document, EncryptionState, EncryptionVersion, Object, ObjectId, Permissions,
    Stream, StringFormat, dictionary,
};

/// Builds a PDF page by page; every page can use Helvetica as `/F1`.
pub struct PdfBuilder {
    doc: Document,
    pages_id: ObjectId,
    font_id: ObjectId,
    kids: Vec<Object>,
}

impl Default for PdfBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PdfBuilder {
    pub fn new() -> Self {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        });
        Self {
            doc,
            pages_id,
            font_id,
            kids: Vec::new(),
        }
    }

    /// A page drawn by `ops`.
    pub fn page(&mut self, ops: Vec<Operation>) -> &mut Self {
        self.page_with_xobjects(ops, Dictionary::new())
    }

    /// A page drawn by `ops` that may `Do` the named `xobjects`.
    pub fn page_with_xobjects(&mut self, ops: Vec<Operation>, xobjects: Dictionary) -> &mut Self {
        let content = Content { operations: ops }
            .encode()
            .expect("encode content");
        let content_id = self.doc.add_object(Stream::new(dictionary! {}, content));
        let resources = dictionary! {
            "Font" => dictionary! { "F1" => self.font_id },
            "XObject" => xobjects,
        };
        let page_id = self.doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => self.pages_id,
            "Contents" => content_id,
            "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        });
        self.kids.push(page_id.into());
        self
    }

    /// A 2×2 grey image, as a scan would have (a much larger one).
    pub fn image(&mut self) -> ObjectId {
        self.doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Image",
                "Width" => 2,
                "Height" => 2,
                "ColorSpace" => "DeviceGray",
                "BitsPerComponent" => 8,
            },
            vec![0, 128, 255, 64],
        ))
    }

    /// A form XObject drawn by `ops`, with its own resources.
    pub fn form(&mut self, ops: Vec<Operation>) -> ObjectId {
        let content = Content { operations: ops }
            .encode()
            .expect("encode content");
        self.doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Form",
                "BBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
                "Resources" => dictionary! { "Font" => dictionary! { "F1" => self.font_id } },
            },
            content,
        ))
    }

    fn finish(&mut self) {
        let count = i64::try_from(self.kids.len()).expect("page count");
        let pages = dictionary! {
            "Type" => "Pages",
            "Kids" => self.kids.clone(),
            "Count" => count,
        };
        self.doc
            .objects
            .insert(self.pages_id, Object::Dictionary(pages));
        let catalog_id = self.doc.add_object(dictionary! {
            "Type" => "Catalog",
            "Pages" => self.pages_id,
        });
        self.doc.trailer.set("Root", catalog_id);
    }

    fn save(mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.doc.save_to(&mut bytes).expect("save pdf");
        bytes
    }

    pub fn build(mut self) -> Vec<u8> {
        self.finish();
        self.save()
    }

    /// The document with its streams Flate-compressed, as most PDFs are.
    pub fn build_compressed(mut self) -> Vec<u8> {
        self.finish();
        self.doc.compress();
        self.save()
    }

    /// The document really encrypted (RC4, 128 bits) with these passwords; an empty
    /// `user` password opens it without asking, as for PDFs restricted only from copying
    /// or printing.
    pub fn build_with_passwords(mut self, user: &str, owner: &str) -> Vec<u8> {
        self.finish();
        self.set_file_id();
        let state = EncryptionState::try_from(EncryptionVersion::V2 {
            document: &self.doc,
            owner_password: owner,
            user_password: user,
            key_length: 128,
            permissions: Permissions::all(),
        })
        .expect("encryption state");
        self.doc.encrypt(&state).expect("encrypt");
        self.save()
    }

    /// The same document with a standard-security `/Encrypt` dictionary in its trailer
    /// whose keys fit no password, not even the empty one.
    pub fn build_encrypted(mut self) -> Vec<u8> {
        self.finish();
        let encrypt_id = self.doc.add_object(dictionary! {
            "Filter" => "Standard",
            "V" => 1,
            "R" => 2,
            "O" => Object::String(vec![0x5a; 32], StringFormat::Hexadecimal),
            "U" => Object::String(vec![0xa5; 32], StringFormat::Hexadecimal),
            "P" => -4,
        });
        self.doc.trailer.set("Encrypt", encrypt_id);
        self.set_file_id();
        self.save()
    }

    /// The file identifier, which encryption keys are derived from.
    fn set_file_id(&mut self) {
        self.doc.trailer.set(
            "ID",
            vec![
                Object::String(vec![1; 16], StringFormat::Hexadecimal),
                Object::String(vec![1; 16], StringFormat::Hexadecimal),
            ],
        );
    }
}

/// A string operand in WinAnsi, the font's encoding.
pub fn pdf_string(text: &str) -> Object {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!unmappable, "{text} is not WinAnsi");
    Object::String(bytes.into_owned(), StringFormat::Literal)
}

/// Text lines set the way typesetters do: one text object, a `Td` down per line.
pub fn text_lines(lines: &[&str]) -> Vec<Operation> {
    let mut ops = vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec!["F1".into(), 12.into()]),
        Operation::new("Td", vec![72.into(), 720.into()]),
    ];
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            ops.push(Operation::new("Td", vec![0.into(), (-14).into()]));
        }
        ops.push(Operation::new("Tj", vec![pdf_string(line)]));
    }
    ops.push(Operation::new("ET", vec![]));
    ops
}

/// A page that only paints an image: what a scanner makes.
pub fn image_ops(name: &str) -> Vec<Operation> {
    vec![
        Operation::new("q", vec![]),
        Operation::new(
            "cm",
            vec![
                500.into(),
                0.into(),
                0.into(),
                700.into(),
                50.into(),
                50.into(),
            ],
        ),
        Operation::new("Do", vec![Object::Name(name.as_bytes().to_vec())]),
        Operation::new("Q", vec![]),
    ]
}

/// A one-page PDF with `lines` on it.
pub fn one_page(lines: &[&str]) -> Vec<u8> {
    let mut builder = PdfBuilder::new();
    builder.page(text_lines(lines));
    builder.build()
}

/// A ZIP archive of `parts` (name, content), deflated as Word does.
pub fn zip_parts(parts: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in parts {
        writer.start_file(*name, options).expect("start part");
        writer.write_all(content).expect("write part");
    }
    writer.finish().expect("finish zip").into_inner()
}

/// The namespace declarations of a Word body part.
pub const W_NS: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;

/// A minimal Word document whose body holds `body` (WordprocessingML paragraphs and
/// tables, with the `w:` prefix), plus any `extra` parts (styles, properties).
pub fn docx_with(body: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let content_types = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document {W_NS}><w:body>{body}<w:sectPr/></w:body></w:document>"#
    );
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", content_types.as_bytes()),
        ("_rels/.rels", rels.as_bytes()),
        ("word/document.xml", document.as_bytes()),
    ];
    parts.extend(extra.iter().map(|(name, xml)| (*name, xml.as_bytes())));
    zip_parts(&parts)
}

/// A minimal Word document whose body holds `body`.
pub fn docx(body: &str) -> Vec<u8> {
    docx_with(body, &[])
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64().to_le_bytes()[0]).collect()
    }
}
