// swift-tools-version:5.9
// The Swift package of the dragoman bindings, laid out by generate.sh next to the generated
// sources. Build with `swift build -Xlinker -Llib` (libdragoman from `cargo build --profile dist -p
// dragoman-bindings`).
import PackageDescription

let package = Package(
    name: "Dragoman",
    products: [.library(name: "Dragoman", targets: ["Dragoman"])],
    targets: [
        .systemLibrary(name: "DragomanFFI", path: "Sources/DragomanFFI/include"),
        .target(
            name: "Dragoman",
            dependencies: ["DragomanFFI"],
            linkerSettings: [.linkedLibrary("dragoman")]
        ),
    ]
)
