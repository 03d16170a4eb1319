package org.slf4j.impl;

import org.slf4j.IMarkerFactory;
import org.slf4j.MarkerFactory;

/** The SLF4J 1.x marker binding the AWS SDK bundle looks for, answering with SLF4J 2's marker
 * factory: the companion of {@link StaticLoggerBinder} (same reason, same source). */
public final class StaticMarkerBinder {
  private static final StaticMarkerBinder SINGLETON = new StaticMarkerBinder();

  private StaticMarkerBinder() {}

  /** The one binder (the shaded binding calls this by reflection). */
  public static StaticMarkerBinder getSingleton() {
    return SINGLETON;
  }

  /** SLF4J 2's marker factory. */
  public IMarkerFactory getMarkerFactory() {
    return MarkerFactory.getIMarkerFactory();
  }

  /** The marker factory's class name. */
  public String getMarkerFactoryClassStr() {
    return getMarkerFactory().getClass().getName();
  }
}
