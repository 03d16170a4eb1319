package org.slf4j.impl;

import org.slf4j.ILoggerFactory;
import org.slf4j.LoggerFactory;

/** The SLF4J 1.x binding the AWS SDK bundle looks for, handing its loggers to Spark's SLF4J 2.
 *
 * <p>The AWS SDK v2 bundle ({@code software.amazon.awssdk:bundle}, which hadoop-aws needs for
 * {@code s3a://}) carries a shaded SLF4J 1.7 whose binding forwards to the unshaded SLF4J 1.x
 * binding class {@code org.slf4j.impl.StaticLoggerBinder}. Spark ships SLF4J 2 (bindings are
 * {@code ServiceLoader} providers, no such class), so the shaded {@code LoggerFactory} prints
 * {@code SLF4J: Failed to load class "org.slf4j.impl.StaticLoggerBinder"} on the first S3 access
 * and drops every SDK log event, errors included (aws/aws-sdk-java-v2 issue 5312). This class is
 * that binding: it answers with SLF4J 2's logger factory, so the SDK's events go to Spark's log4j2
 * configuration like everyone else's.
 *
 * <p>SLF4J 2 itself never loads it: it looks for this class only when it has no provider, and
 * Spark's {@code log4j-slf4j2-impl} is one. */
public final class StaticLoggerBinder {
  /** The SLF4J API version this binding was written for (read by SLF4J 1.x's version check). */
  public static String REQUESTED_API_VERSION = "1.7.36";

  private static final StaticLoggerBinder SINGLETON = new StaticLoggerBinder();

  private StaticLoggerBinder() {}

  /** The one binder (the shaded binding calls this by reflection). */
  public static StaticLoggerBinder getSingleton() {
    return SINGLETON;
  }

  /** SLF4J 2's logger factory: log4j2's, on Spark's class path. */
  public ILoggerFactory getLoggerFactory() {
    return LoggerFactory.getILoggerFactory();
  }

  /** The logger factory's class name. */
  public String getLoggerFactoryClassStr() {
    return getLoggerFactory().getClass().getName();
  }
}
