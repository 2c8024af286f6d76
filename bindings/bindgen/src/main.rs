//! `uniffi-bindgen generate --library LIB --language python|kotlin|swift --out-dir DIR`: the
//! foreign-language sources of the bindings, read from the built library's metadata.

fn main() {
    uniffi::uniffi_bindgen_main()
}
