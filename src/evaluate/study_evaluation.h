#pragma once
// Private to src/evaluate: `evaluate --labels` (study level), run by run_evaluation.
#include "covscreen/evaluate/evaluate.h"

namespace covscreen {

EvaluateResult run_study_evaluation(const EvaluateJob& job);

}  // namespace covscreen
