"""Made-up benchmark measurements that the bench tests share."""

PER_CALL_US = {  # a fixed cost of 8 us; the Python Tagger adds 4 us above the native one
    "onnxruntime floor": 8.0,
    "onnxruntime session.run": 28.0,
    "native Tagger.run": 26.0,
    "Tagger(native)": 30.0,
    "Tagger(onnxruntime)": 34.0,
    "kNN binding": 2.0,
    "graphs_from_spec binding": 3.0,
    "graphs_from_spec binding (JSON spec)": 7.0,
    "graphs_from_spec": 5.0,
    "native Tagger.tag_nodes": 30.0,
    "Tagger(native).tag_nodes": 42.0,
}
