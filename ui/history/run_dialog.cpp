#include "ui/history/run_dialog.hpp"

#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>

#include "ui/charts/charts_panel.hpp"

namespace xdit::ui {

QString run_details(const RunRecord& record) {
  const auto& r = record.request;
  QStringList lines;
  lines << QObject::tr("Run %1, %2")
               .arg(record.id, record.started.toLocalTime().toString(Qt::ISODate));
  lines << QObject::tr("Model: %1").arg(QString::fromStdString(record.spec.model));
  for (const std::string& prompt : r.prompts)
    lines << QObject::tr("Prompt: %1").arg(QString::fromStdString(prompt));
  if (!r.negative_prompt.empty())
    lines << QObject::tr("Negative prompt: %1").arg(QString::fromStdString(r.negative_prompt));
  lines << QObject::tr("Settings: %1").arg(settings_summary(record));
  lines << QObject::tr("Degrees: %1").arg(QString::fromStdString(record.spec.parallel.describe()));
  lines << QObject::tr("Seconds per step: %1").arg(seconds_per_step(record), 0, 'f', 3);
  lines << QObject::tr("Total: %1 s").arg(record.total_seconds, 0, 'f', 2);
  lines << QObject::tr("Peak memory of a rank: %1").arg(bytes_text(peak_memory_bytes(record)));
  if (!record.error.isEmpty())
    lines << QObject::tr("Ended with: %1").arg(record.error);
  return lines.join(QLatin1Char('\n'));
}

RunDialog::RunDialog(const RunRecord& record, QWidget* parent)
    : QDialog(parent), charts_(new ChartsPanel) {
  setWindowTitle(tr("Run %1").arg(record.id));
  auto* image = new QLabel;
  image->setAlignment(Qt::AlignCenter);
  image->setMinimumSize(256, 256);
  if (record.image.isNull()) {
    image->setText(tr("No image"));
  } else {
    image->setPixmap(QPixmap::fromImage(
        record.image.scaled(512, 512, Qt::KeepAspectRatio, Qt::SmoothTransformation)));
  }
  auto* details = new QPlainTextEdit(run_details(record));
  details->setReadOnly(true);

  auto* left = new QWidget;
  auto* left_layout = new QVBoxLayout(left);
  left_layout->addWidget(image, 1);
  left_layout->addWidget(details);
  charts_->showRecord(record);
  auto* split = new QSplitter;
  split->addWidget(left);
  split->addWidget(charts_);
  split->setStretchFactor(1, 1);

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
  QPushButton* rerun = buttons->addButton(tr("Re-run"), QDialogButtonBox::ActionRole);
  connect(rerun, &QPushButton::clicked, this, [this, record] {
    Q_EMIT rerunRequested(record);
    accept();
  });
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(split, 1);
  layout->addWidget(buttons);
  resize(1100, 650);
}

}  // namespace xdit::ui
