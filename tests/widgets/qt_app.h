#pragma once
// One QApplication for the whole test binary (created on first use and
// deliberately never destroyed: widgets' static caches outlive main()).
class QApplication;
namespace perceptra::widgets::test {
QApplication& app();
// Runs the event loop for `ms` milliseconds.
void spin(int ms);
}  // namespace perceptra::widgets::test
