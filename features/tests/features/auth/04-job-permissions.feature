Feature: What each job may do

  Background:
    Given the retail estate

  @auth-4
  Scenario Outline: <job> may <request>: <status>
    Given I am a <job>
    When I <request> at "WH01"
    Then the response status is <status>

    Examples:
      | job                    | request           | status |
      | Regional Stock Auditor | read the stock    | 200    |
      | Regional Stock Auditor | record a sale     | 403    |
      | Regional Stock Auditor | record a delivery | 403    |
      | Regional Stock Auditor | move stock        | 403    |
      | Regional Stock Auditor | count stock       | 403    |
      | Store Stock Controller | read the stock    | 200    |
      | Store Stock Controller | record a sale     | 201    |
      | Store Stock Controller | record a delivery | 201    |
      | Store Stock Controller | move stock        | 201    |
      | Store Stock Controller | count stock       | 201    |
      | Warehouse Manager      | read the stock    | 200    |
      | Warehouse Manager      | record a sale     | 201    |
      | Warehouse Manager      | record a delivery | 201    |
      | Warehouse Manager      | move stock        | 201    |
      | Warehouse Manager      | count stock       | 201    |
      | System Administrator   | read the stock    | 200    |
      | System Administrator   | record a sale     | 201    |
      | System Administrator   | record a delivery | 201    |
      | System Administrator   | move stock        | 201    |
      | System Administrator   | count stock       | 201    |
      | Read Only User         | read the stock    | 403    |
      | Read Only User         | record a sale     | 403    |
      | Read Only User         | record a delivery | 403    |
      | Read Only User         | move stock        | 403    |
      | Read Only User         | count stock       | 403    |
      | warehouse manager      | read the stock    | 403    |
      | warehouse manager      | record a sale     | 403    |
      | warehouse manager      | count stock       | 403    |
      | System administrator   | move stock        | 403    |

  @auth-4 @auth-2
  Scenario Outline: A job name that is not a string is no job at all: <job>
    Given I am a Warehouse Manager
    And my token's "job" claim is <job>
    When I send GET /locations/WH01/products/p1
    Then the response status is 401

    Examples:
      | job                     |
      | ["Warehouse Manager"]   |
      | {"name":"Warehouse Manager"} |
