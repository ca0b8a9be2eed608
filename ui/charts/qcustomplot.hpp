#pragma once
// QCustomPlot for a build with QT_NO_KEYWORDS (LibTorch's headers use
// `signals` as an identifier): its header still says `signals:` and
// `foreach`, so those keywords are lent to it for the include only.

#ifndef signals
#define XDIT_LENT_QT_KEYWORDS
#define signals Q_SIGNALS
#define foreach Q_FOREACH
#endif

#include <qcustomplot.h>

#ifdef XDIT_LENT_QT_KEYWORDS
#undef signals
#undef foreach
#undef XDIT_LENT_QT_KEYWORDS
#endif
