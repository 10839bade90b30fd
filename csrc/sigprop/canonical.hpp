// The canonical form of an activation: the kind its parameters make it.
#pragma once

#include "activation.hpp"

namespace sigprop {

// Activations whose parameters make them another kind are mapped to that kind,
// so that the closed forms of the simpler kind apply.
inline Activation canonical(const Activation& a) {
  switch (a.kind) {
    case Kind::leaky_relu:
      if (a.p0 == 1.0) return {Kind::linear, 0.0, 0.0};
      if (a.p0 == 0.0) return {Kind::relu, 0.0, 0.0};
      return a;
    case Kind::elu:
      if (a.p0 == 0.0) return {Kind::relu, 0.0, 0.0};
      return a;
    case Kind::shifted_relu:
      if (a.p0 == 0.0) return {Kind::relu, 0.0, 0.0};
      return a;
    case Kind::soft_threshold:
      if (a.p0 == 0.0) return {Kind::linear, 0.0, 0.0};
      return a;
    default: return a;
  }
}

}  // namespace sigprop
