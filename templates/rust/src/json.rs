//! A small JSON reader for the plugin configuration: one object whose top-level values are
//! strings, numbers, booleans or null (nested objects and arrays are kept as raw text).
//! With the crates registry at hand, `serde_json` does this better.
#![allow(dead_code)]

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
    Raw(String),
}

#[derive(Debug, Default)]
pub struct JsonObject {
    values: HashMap<String, JsonValue>,
}

impl JsonObject {
    /// Parse UTF-8 JSON; None when it is not one JSON object. Empty input is `{}`.
    pub fn parse(data: &[u8]) -> Option<JsonObject> {
        let text = std::str::from_utf8(data).ok()?;
        let mut parser = Parser { chars: text.chars().collect(), position: 0 };
        let mut object = JsonObject::default();
        parser.skip_space();
        if parser.at_end() {
            return Some(object);
        }
        if !parser.eat('{') {
            return None;
        }
        parser.skip_space();
        if parser.eat('}') {
            return if parser.finish() { Some(object) } else { None };
        }
        loop {
            parser.skip_space();
            let key = parser.read_string()?;
            parser.skip_space();
            if !parser.eat(':') {
                return None;
            }
            parser.skip_space();
            let value = parser.read_value()?;
            object.values.insert(key, value);
            parser.skip_space();
            if parser.eat(',') {
                continue;
            }
            if parser.eat('}') {
                return if parser.finish() { Some(object) } else { None };
            }
            return None;
        }
    }

    pub fn get(&self, key: &str) -> Option<&JsonValue> {
        self.values.get(key)
    }

    pub fn get_string(&self, key: &str, fallback: &str) -> String {
        match self.values.get(key) {
            Some(JsonValue::String(value)) => value.clone(),
            _ => fallback.to_string(),
        }
    }

    pub fn get_number(&self, key: &str, fallback: f64) -> f64 {
        match self.values.get(key) {
            Some(JsonValue::Number(value)) => *value,
            _ => fallback,
        }
    }

    pub fn get_bool(&self, key: &str, fallback: bool) -> bool {
        match self.values.get(key) {
            Some(JsonValue::Bool(value)) => *value,
            _ => fallback,
        }
    }
}

struct Parser {
    chars: Vec<char>,
    position: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.position >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).copied()
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let end = self.position + word.chars().count();
        if end <= self.chars.len() && self.chars[self.position..end].iter().copied().eq(word.chars()) {
            self.position = end;
            true
        } else {
            false
        }
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(' ' | '\n' | '\r' | '\t')) {
            self.position += 1;
        }
    }

    fn finish(&mut self) -> bool {
        self.skip_space();
        self.at_end()
    }

    fn read_string(&mut self) -> Option<String> {
        if !self.eat('"') {
            return None;
        }
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.position += 1;
            match c {
                '"' => return Some(out),
                '\\' => {
                    let escaped = self.peek()?;
                    self.position += 1;
                    match escaped {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'u' => {
                            let hex: String = self.chars.get(self.position..self.position + 4)?.iter().collect();
                            self.position += 4;
                            out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?).unwrap_or('\u{fffd}'));
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
        None
    }

    fn read_value(&mut self) -> Option<JsonValue> {
        match self.peek()? {
            '"' => self.read_string().map(JsonValue::String),
            '{' | '[' => self.read_nested().map(JsonValue::Raw),
            _ if self.eat_word("true") => Some(JsonValue::Bool(true)),
            _ if self.eat_word("false") => Some(JsonValue::Bool(false)),
            _ if self.eat_word("null") => Some(JsonValue::Null),
            _ => {
                let start = self.position;
                while matches!(self.peek(), Some('0'..='9' | '-' | '+' | '.' | 'e' | 'E')) {
                    self.position += 1;
                }
                let text: String = self.chars[start..self.position].iter().collect();
                text.parse::<f64>().ok().map(JsonValue::Number)
            }
        }
    }

    fn read_nested(&mut self) -> Option<String> {
        let start = self.position;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            if c == '"' {
                self.read_string()?;
                continue;
            }
            self.position += 1;
            match c {
                '{' | '[' => depth += 1,
                '}' | ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(self.chars[start..self.position].iter().collect());
                    }
                }
                _ => {}
            }
        }
        None
    }
}
