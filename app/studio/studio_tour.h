#pragma once
// The screenshot tour (perceptra --tour DIR, scripts/screenshot-tour): the
// help windows, the cost estimate (a run that fits and one refused over the
// memory limit) and the Problems panel, in the dark and the light theme,
// each saved as DIR/<view>-<theme>.png from the screen (dialogs included).
#include <QString>

#include <functional>

namespace perceptra::studio {

class MainWindow;

// Runs asynchronously; calls done(true) when every picture was saved.
void runTour(MainWindow& window, const QString& dir, std::function<void(bool)> done);

}  // namespace perceptra::studio
