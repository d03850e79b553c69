//! Sitemaps (the sitemaps.org protocol, 0.9): the list of pages a site offers, which a
//! knowledge base can import from a sitemap URL the person gives.
//!
//! [`parse`] reads one sitemap file's bytes (fetching it, and following an index to its
//! sitemaps, is the caller's: the network belongs to `orchard-net`). Two kinds of file:
//!
//! - a URL set, `<urlset><url><loc>…</loc><lastmod>…</lastmod></url>…</urlset>`;
//! - an index, `<sitemapindex><sitemap><loc>…</loc></sitemap>…</sitemapindex>`, whose
//!   entries are further sitemaps.
//!
//! Bounded as the protocol bounds a file: at most [`MAX_URLS`] entries and
//! [`MAX_BYTES`] of XML, UTF-8. Gzipped sitemaps (`.xml.gz`) must be decompressed by the
//! caller. Only the sitemap's own `<loc>` counts: the `<image:loc>` and `<video:…>` of
//! extensions, `<xhtml:link>` alternates and unknown elements are ignored. Entries whose
//! `<loc>` is missing, not an absolute `http`/`https` URL, or longer than 2,048
//! characters are left out (counted in [`Sitemap::skipped`]), as are repeats.
//! DTDs are never read and entities other than XML's five are not expanded, so a
//! hostile file cannot make the parser fetch or expand anything.

use std::collections::HashSet;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Most entries one sitemap file may list (sitemaps.org: "no more than 50,000 URLs").
pub const MAX_URLS: usize = 50_000;

/// Largest sitemap file read, uncompressed (sitemaps.org: "no larger than 50MB").
pub const MAX_BYTES: usize = 50 * 1024 * 1024;

/// Longest `<loc>` kept (sitemaps.org: "less than 2,048 characters").
const MAX_LOC: usize = 2048;

/// One entry: a page of a URL set, or a sitemap of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The absolute URL, as written (entities decoded, surrounding space trimmed).
    pub loc: String,
    /// When it last changed, as written (W3C datetime: `2024-05-01` or
    /// `2024-05-01T10:00:00+00:00`), if given.
    pub lastmod: Option<String>,
}

/// A parsed sitemap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sitemap {
    /// `<urlset>`: the pages of a site.
    UrlSet {
        /// The pages, in file order, without repeats.
        urls: Vec<Entry>,
        /// Entries left out (no usable `<loc>`, or a repeat).
        skipped: usize,
    },
    /// `<sitemapindex>`: further sitemap files to read.
    Index {
        /// The sitemaps, in file order, without repeats.
        sitemaps: Vec<Entry>,
        /// Entries left out (no usable `<loc>`, or a repeat).
        skipped: usize,
    },
}

impl Sitemap {
    /// The entries, whichever kind of file this is.
    pub fn entries(&self) -> &[Entry] {
        match self {
            Sitemap::UrlSet { urls, .. } => urls,
            Sitemap::Index { sitemaps, .. } => sitemaps,
        }
    }

    /// How many entries were left out.
    pub fn skipped(&self) -> usize {
        match self {
            Sitemap::UrlSet { skipped, .. } | Sitemap::Index { skipped, .. } => *skipped,
        }
    }

    /// Whether this is an index of further sitemaps.
    pub fn is_index(&self) -> bool {
        matches!(self, Sitemap::Index { .. })
    }
}

/// A file that is not a usable sitemap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SitemapError {
    /// Larger than [`MAX_BYTES`].
    #[error(
        "the sitemap is larger than {} MB, the most a sitemap may be (sitemaps.org); ask the site for a sitemap index that splits it",
        MAX_BYTES / (1024 * 1024)
    )]
    TooLarge,
    /// Not UTF-8 (the protocol requires it).
    #[error(
        "the sitemap is not UTF-8 text, which sitemaps must be; is it compressed (.gz) or not a sitemap?"
    )]
    NotUtf8,
    /// Not well-formed XML.
    #[error("the sitemap is not well-formed XML (at byte {position}: {reason})")]
    Xml {
        /// Byte offset of the problem.
        position: u64,
        /// What is wrong, as the XML parser says.
        reason: String,
    },
    /// XML, but its root element is neither `urlset` nor `sitemapindex`.
    #[error("this is not a sitemap: its root element is <{root}>, not <urlset> or <sitemapindex>")]
    NotASitemap {
        /// The root element's name (empty when there is no element at all).
        root: String,
    },
    /// More entries than [`MAX_URLS`].
    #[error(
        "the sitemap lists more than {MAX_URLS} entries, the most a sitemap may list (sitemaps.org); it was not read"
    )]
    TooManyUrls,
}

/// Which field of an entry text is being collected for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Loc,
    Lastmod,
}

/// The walk over one file.
struct Walk {
    /// Qualified names of the open elements, root first.
    open: Vec<String>,
    /// The root's namespace prefix with its colon (`sm:`), or empty.
    prefix: String,
    index: bool,
    entry: Option<Entry>,
    field: Option<(Field, String)>,
    entries: Vec<Entry>,
    seen: HashSet<String>,
    skipped: usize,
}

impl Walk {
    /// Whether `name` is the sitemap element `local` (with the root's prefix).
    fn is(&self, name: &str, local: &str) -> bool {
        name.len() == self.prefix.len() + local.len()
            && name.starts_with(&self.prefix)
            && name.ends_with(local)
    }

    fn entry_element(&self) -> &'static str {
        if self.index { "sitemap" } else { "url" }
    }

    /// An element opens (`empty`: and closes at once).
    fn start(&mut self, element: &BytesStart<'_>, empty: bool) -> Result<(), SitemapError> {
        let name = element.name().as_ref().to_owned();
        match self.open.len() {
            0 => {
                let local = element.local_name().as_ref().to_owned();
                self.index = match local.as_str() {
                    "urlset" => false,
                    "sitemapindex" => true,
                    other => {
                        return Err(SitemapError::NotASitemap {
                            root: other.to_owned(),
                        });
                    }
                };
                self.prefix = name[..name.len() - local.len()].to_owned();
            }
            1 if self.is(&name, self.entry_element()) => {
                self.entry = Some(Entry {
                    loc: String::new(),
                    lastmod: None,
                });
                if empty {
                    self.end_entry()?;
                }
            }
            2 if self.entry.is_some() && !empty => {
                if self.is(&name, "loc") {
                    self.field = Some((Field::Loc, String::new()));
                } else if self.is(&name, "lastmod") {
                    self.field = Some((Field::Lastmod, String::new()));
                }
            }
            _ => {}
        }
        if !empty {
            self.open.push(name);
        }
        Ok(())
    }

    /// An element closes.
    fn end(&mut self) -> Result<(), SitemapError> {
        self.open.pop();
        match self.open.len() {
            2 => {
                if let (Some((field, text)), Some(entry)) = (self.field.take(), &mut self.entry) {
                    let text = text.trim().to_owned();
                    match field {
                        Field::Loc => entry.loc = text,
                        Field::Lastmod => entry.lastmod = Some(text).filter(|t| !t.is_empty()),
                    }
                }
            }
            1 if self.entry.is_some() => self.end_entry()?,
            _ => {}
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<(), SitemapError> {
        let Some(entry) = self.entry.take() else {
            return Ok(());
        };
        if !usable(&entry.loc) || !self.seen.insert(entry.loc.clone()) {
            self.skipped += 1;
            return Ok(());
        }
        if self.entries.len() == MAX_URLS {
            return Err(SitemapError::TooManyUrls);
        }
        self.entries.push(entry);
        Ok(())
    }

    fn text(&mut self, text: &str) {
        if let Some((_, collected)) = &mut self.field {
            collected.push_str(text);
        }
    }
}

/// Whether `loc` is an absolute http(s) URL of a sane length.
fn usable(loc: &str) -> bool {
    let lower = loc.get(..8).unwrap_or(loc).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &loc[8..]
    } else if lower.starts_with("http://") {
        &loc[7..]
    } else {
        return false;
    };
    loc.len() <= MAX_LOC
        && !rest.is_empty()
        && !rest.starts_with('/')
        && !loc.chars().any(char::is_whitespace)
}

/// The character of one of XML's five predefined entities.
fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// Reads one sitemap file: a URL set or an index (see the module documentation).
pub fn parse(bytes: &[u8]) -> Result<Sitemap, SitemapError> {
    if bytes.len() > MAX_BYTES {
        return Err(SitemapError::TooLarge);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| SitemapError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    let mut walk = Walk {
        open: Vec::new(),
        prefix: String::new(),
        index: false,
        entry: None,
        field: None,
        entries: Vec::new(),
        seen: HashSet::new(),
        skipped: 0,
    };
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(|e| SitemapError::Xml {
            position: reader.error_position(),
            reason: e.to_string(),
        })?;
        match event {
            Event::Start(element) => {
                if saw_root && walk.open.is_empty() {
                    return Err(xml_error(&reader, "a second root element"));
                }
                walk.start(&element, false)?;
                saw_root = true;
            }
            Event::Empty(element) => {
                if saw_root && walk.open.is_empty() {
                    return Err(xml_error(&reader, "a second root element"));
                }
                walk.start(&element, true)?;
                saw_root = true;
            }
            Event::End(_) => walk.end()?,
            Event::Text(t) => walk.text(&t.xml10_content()),
            Event::CData(c) => walk.text(&c.xml10_content()),
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => predefined_entity(&reference),
                    Err(_) => None,
                };
                if let Some(c) = resolved {
                    walk.text(c.encode_utf8(&mut [0; 4]));
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !saw_root {
        return Err(SitemapError::NotASitemap {
            root: String::new(),
        });
    }
    if !walk.open.is_empty() {
        return Err(xml_error(
            &reader,
            "the file ends before its elements are closed",
        ));
    }
    let Walk {
        entries,
        skipped,
        index,
        ..
    } = walk;
    Ok(if index {
        Sitemap::Index {
            sitemaps: entries,
            skipped,
        }
    } else {
        Sitemap::UrlSet {
            urls: entries,
            skipped,
        }
    })
}

fn xml_error(reader: &Reader<&[u8]>, reason: &str) -> SitemapError {
    SitemapError::Xml {
        position: reader.buffer_position(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locs(s: &Sitemap) -> Vec<&str> {
        s.entries().iter().map(|e| e.loc.as_str()).collect()
    }

    #[test]
    fn a_url_set_as_in_the_protocol() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
   <url>
      <loc>http://www.example.com/</loc>
      <lastmod>2005-01-01</lastmod>
      <changefreq>monthly</changefreq>
      <priority>0.8</priority>
   </url>
   <url>
      <loc>http://www.example.com/catalog?item=12&amp;desc=vacation_hawaii</loc>
      <changefreq>weekly</changefreq>
   </url>
   <url>
      <loc>http://www.example.com/catalog?item=83&#38;desc=vacation_usa</loc>
      <lastmod>2004-11-23T10:00:00+00:00</lastmod>
   </url>
</urlset>"#;
        let s = parse(xml.as_bytes()).unwrap();
        assert_eq!(
            s,
            Sitemap::UrlSet {
                urls: vec![
                    Entry {
                        loc: "http://www.example.com/".into(),
                        lastmod: Some("2005-01-01".into()),
                    },
                    Entry {
                        loc: "http://www.example.com/catalog?item=12&desc=vacation_hawaii".into(),
                        lastmod: None,
                    },
                    Entry {
                        loc: "http://www.example.com/catalog?item=83&desc=vacation_usa".into(),
                        lastmod: Some("2004-11-23T10:00:00+00:00".into()),
                    },
                ],
                skipped: 0,
            }
        );
        assert!(!s.is_index());
    }

    #[test]
    fn an_index_as_in_the_protocol() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
   <sitemap>
      <loc>http://www.example.com/sitemap1.xml.gz</loc>
      <lastmod>2004-10-01T18:23:17+00:00</lastmod>
   </sitemap>
   <sitemap>
      <loc>http://www.example.com/sitemap2.xml.gz</loc>
   </sitemap>
</sitemapindex>"#;
        let s = parse(xml.as_bytes()).unwrap();
        assert!(s.is_index());
        assert_eq!(
            locs(&s),
            [
                "http://www.example.com/sitemap1.xml.gz",
                "http://www.example.com/sitemap2.xml.gz"
            ]
        );
        assert_eq!(
            s.entries()[0].lastmod.as_deref(),
            Some("2004-10-01T18:23:17+00:00")
        );
    }

    #[test]
    fn extension_locs_and_alternates_are_not_pages() {
        let xml = r#"<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"
        xmlns:xhtml="http://www.w3.org/1999/xhtml"
        xmlns:video="http://www.google.com/schemas/sitemap-video/1.1">
  <url>
    <loc>https://example.com/page</loc>
    <xhtml:link rel="alternate" hreflang="de" href="https://example.com/de/page"/>
    <image:image><image:loc>https://example.com/pic.jpg</image:loc></image:image>
    <image:loc>https://example.com/stray.jpg</image:loc>
    <video:video><video:content_loc>https://example.com/v.mp4</video:content_loc></video:video>
  </url>
</urlset>"#;
        assert_eq!(
            locs(&parse(xml.as_bytes()).unwrap()),
            ["https://example.com/page"]
        );
    }

    #[test]
    fn a_prefixed_sitemap_namespace_is_read() {
        let xml = r#"<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sm:url><sm:loc>https://example.com/a</sm:loc></sm:url>
  <url><loc>https://example.com/not-in-the-namespace</loc></url>
</sm:urlset>"#;
        assert_eq!(
            locs(&parse(xml.as_bytes()).unwrap()),
            ["https://example.com/a"]
        );
    }

    #[test]
    fn cdata_whitespace_bom_and_comments_are_handled() {
        let xml = "\u{feff}<?xml version=\"1.0\"?><!-- generated --><urlset>\
            <url><loc>\n  <![CDATA[https://example.com/a?b=1&c=2]]>\n</loc></url>\
            <url><!-- x --><loc>https://example.com/&#x00E9;t&#233;</loc></url></urlset>";
        assert_eq!(
            locs(&parse(xml.as_bytes()).unwrap()),
            ["https://example.com/a?b=1&c=2", "https://example.com/été"]
        );
    }

    #[test]
    fn unusable_and_repeated_entries_are_skipped_and_counted() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_LOC));
        let xml = format!(
            "<urlset>\
             <url><loc>https://example.com/ok</loc></url>\
             <url><loc>/relative/path</loc></url>\
             <url><loc>ftp://example.com/file</loc></url>\
             <url><loc>javascript:alert(1)</loc></url>\
             <url><loc>https:///no-host</loc></url>\
             <url><loc>https://example.com/has space</loc></url>\
             <url><loc></loc></url>\
             <url><lastmod>2024-01-01</lastmod></url>\
             <url/>\
             <url><loc>{long}</loc></url>\
             <url><loc>https://example.com/ok</loc></url>\
             <url><loc>HTTPS://EXAMPLE.com/Upper</loc></url>\
             </urlset>"
        );
        let s = parse(xml.as_bytes()).unwrap();
        assert_eq!(
            locs(&s),
            ["https://example.com/ok", "HTTPS://EXAMPLE.com/Upper"]
        );
        assert_eq!(s.skipped(), 10);
    }

    #[test]
    fn empty_sitemaps_are_sitemaps() {
        assert_eq!(
            parse(b"<urlset/>").unwrap(),
            Sitemap::UrlSet {
                urls: Vec::new(),
                skipped: 0
            }
        );
        assert!(parse(b"<sitemapindex></sitemapindex>").unwrap().is_index());
    }

    #[test]
    fn at_most_fifty_thousand_entries() {
        let mut xml = String::from("<urlset>");
        for i in 0..MAX_URLS {
            xml.push_str(&format!("<url><loc>https://e.com/{i}</loc></url>"));
        }
        let full = format!("{xml}</urlset>");
        assert_eq!(parse(full.as_bytes()).unwrap().entries().len(), MAX_URLS);
        // Repeats do not count toward the limit; one more page does.
        let repeat = format!("{xml}<url><loc>https://e.com/0</loc></url></urlset>");
        assert_eq!(parse(repeat.as_bytes()).unwrap().skipped(), 1);
        let over = format!("{xml}<url><loc>https://e.com/x</loc></url></urlset>");
        let err = parse(over.as_bytes()).unwrap_err();
        assert_eq!(err, SitemapError::TooManyUrls);
        assert!(err.to_string().contains("more than 50000 entries"), "{err}");
    }

    #[test]
    fn files_that_are_not_sitemaps_are_refused_with_the_reason() {
        let not = parse(b"<html><body>hi</body></html>").unwrap_err();
        assert_eq!(
            not,
            SitemapError::NotASitemap {
                root: "html".into()
            }
        );
        assert_eq!(
            not.to_string(),
            "this is not a sitemap: its root element is <html>, not <urlset> or <sitemapindex>"
        );
        assert!(matches!(
            parse(b"").unwrap_err(),
            SitemapError::NotASitemap { .. }
        ));
        assert!(matches!(
            parse(b"just text").unwrap_err(),
            SitemapError::NotASitemap { .. }
        ));
        assert_eq!(
            parse(b"\x1f\x8b\x08\x00\xff").unwrap_err(),
            SitemapError::NotUtf8
        );
        for broken in [
            &b"<urlset><url><loc>https://e.com/</loc></url>"[..],
            b"<urlset><url></urlset>",
            b"<urlset></urlset><urlset></urlset>",
            b"<urlset><url><loc>https://e.com/</url></loc></urlset>",
        ] {
            let err = parse(broken).unwrap_err();
            assert!(
                matches!(err, SitemapError::Xml { .. }),
                "{}: {err:?}",
                String::from_utf8_lossy(broken)
            );
            assert!(
                err.to_string()
                    .starts_with("the sitemap is not well-formed XML (at byte ")
            );
        }
    }

    #[test]
    fn entities_are_not_expanded_beyond_xmls_own() {
        let xml = r#"<?xml version="1.0"?>
<!DOCTYPE urlset [
  <!ENTITY lol "lollollollollollollollollollol">
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<urlset><url><loc>https://example.com/&lol;&xxe;</loc></url></urlset>"#;
        assert_eq!(
            locs(&parse(xml.as_bytes()).unwrap()),
            ["https://example.com/"]
        );
    }

    #[test]
    fn too_large_files_are_refused_before_parsing() {
        let big = vec![b' '; MAX_BYTES + 1];
        assert_eq!(parse(&big).unwrap_err(), SitemapError::TooLarge);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // Every prefix of a real sitemap, and a byte soup, end in a value or an error.
        let xml = br#"<?xml version="1.0"?><urlset xmlns:i="x"><url><loc>https://e.com/a&amp;b</loc><i:loc>q</i:loc><lastmod>2024</lastmod></url><url/><![CDATA[x]]></urlset>"#;
        for end in 0..=xml.len() {
            let _ = parse(&xml[..end]);
        }
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    let alphabet = b"<>/?!&#;:=\"' urlsetlocmap[]CDATA-";
                    alphabet[x as usize % alphabet.len()]
                })
                .collect();
            let _ = parse(&bytes);
        }
    }
}
