"""bench_flops counts convolution FLOPs from the graph: checked against a hand count."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from benchmarks.bench_flops import count_flops


def test_conv_flops_are_counted_by_hand(tmp_path):
    # 2 -> 3 channels 3x3 'same', then a stride-2 1x1 conv 3 -> 4, then Relu (not counted)
    w1 = numpy_helper.from_array(np.zeros((3, 2, 3, 3), np.float32), "w1")
    w2 = numpy_helper.from_array(np.zeros((4, 3, 1, 1), np.float32), "w2")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
         helper.make_node("Conv", ["a", "w2"], ["b"], strides=[2, 2]),
         helper.make_node("Relu", ["b"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, "H2", "W2"])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "two_convs.onnx"
    onnx.save(model, str(path))
    by_op, groups, other = count_flops(path, 16)
    first = 2 * (3 * 16 * 16) * (2 * 3 * 3)  # 2 FLOP per MAC x outputs x MACs per output
    second = 2 * (4 * 8 * 8) * 3
    assert by_op["Conv"] == [2, first + second]
    assert other == 4 * 8 * 8  # the Relu's output elements
    assert sum(g[1] for g in groups.values()) == first + second
