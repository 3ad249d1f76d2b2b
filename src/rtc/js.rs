//! Small readers for browser objects whose fields web-sys does not expose as typed getters (or exposes
//! only as enums without a public string form). Private to `rtc`.

use wasm_bindgen::JsValue;

/// `object[key]` as a string, if it is one.
pub(crate) fn string(object: &JsValue, key: &str) -> Option<String> {
    js_sys::Reflect::get(object, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.as_string())
}

/// `object[key]` as a number, if it is one.
pub(crate) fn number(object: &JsValue, key: &str) -> Option<f64> {
    js_sys::Reflect::get(object, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.as_f64())
}

/// Sets `object[key] = value`; setting a field on a plain object cannot fail, so a failure is ignored.
pub(crate) fn set(object: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(object, &JsValue::from_str(key), value);
}

/// Parses JSON built in Rust into a JavaScript value (constraints, configurations).
pub(crate) fn from_json(value: &serde_json::Value) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(&value.to_string())
}
